from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Inference: validate, preprocess, execute, deliver"

    def ready(self) -> None:
        from compliance.models import DataClass
        from compliance.stores import PersonalDataStore, store_register
        from inference.models import Job
        from inference.stores import job_count, job_erase, job_export

        store_register(
            PersonalDataStore(
                name="jobs",
                data_class=DataClass.JOBS,
                models=(Job,),
                count=job_count,
                export=job_export,
                erase=job_erase,
                order=40,
                description="asynchronous jobs with their sealed input and result",
            )
        )
